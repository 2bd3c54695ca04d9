/** Domain errors thrown by services; the error handler turns each into an ErrorBody with its status. */
export class DomainError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly entity?: { name: string; id: string },
  ) {
    super(message)
    this.name = new.target.name
  }
}

export class NotFoundError extends DomainError {
  constructor(entityName: string, id: string, where = '') {
    super(404, 'not.found', `${entityName} ${id} was not found${where}`, { name: entityName, id })
  }
}

/** A request that is well-formed but breaks a rule (dates out of order, ids that disagree, ...). */
export class InvalidRequestError extends DomainError {
  constructor(
    message: string,
    readonly field?: string,
    /** Where the field is: body, querystring or params. */
    readonly part = 'body',
  ) {
    super(400, 'bad.request', message)
  }
}

/** 401: no usable credentials. `challenge` is the WWW-Authenticate value to answer with. */
export class AuthenticationError extends DomainError {
  constructor(
    message: string,
    readonly challenge: string,
    code = 'bad.credentials',
  ) {
    super(401, code, message)
  }
}

/** 403: authenticated, but without a permission the operation needs. */
export class ForbiddenError extends DomainError {
  constructor(message: string) {
    super(403, 'missing.permissions', message)
  }
}

/** 412: a precondition (If-Match) does not hold; nothing was changed. */
export class PreconditionFailedError extends DomainError {
  constructor(message: string) {
    super(412, 'precondition.failed', message)
  }
}

/** 409: the request conflicts with the resource's state (e.g. media that is stored already). */
export class ConflictError extends DomainError {
  constructor(message: string) {
    super(409, 'conflict', message)
  }
}

/** 415: the body is not of a type the operation takes, or not of the type it claims. */
export class UnsupportedMediaTypeError extends DomainError {
  constructor(message: string) {
    super(415, 'unsupported.media.type', message)
  }
}
