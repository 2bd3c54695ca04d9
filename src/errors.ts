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
  ) {
    super(400, 'bad.request', message)
  }
}
