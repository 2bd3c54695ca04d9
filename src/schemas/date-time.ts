/** RFC 3339 date-time: a full date, a time of day and a zone (`Z` or an offset). */
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$/

const daysIn = (year: number, month: number) =>
  month === 2 ? (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31

/**
 * The instant a date-time names, or undefined when it names none that both `Date` and PostgreSQL hold. RFC 3339 allows
 * what they cannot: a leap second (`Date` has none), year 0000 and, once the offset is applied, years past 9999 (both
 * outside what `timestamptz` reads back from an ISO string). The one check for every date-time the API takes: the
 * `date-time` format of the schemas and the search intervals.
 */
export function instantOf(text: string): Date | undefined {
  const match = DATE_TIME.exec(text)
  if (!match) return undefined
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, offsetHours = 0, offsetMinutes = 0] =
    match.slice(1).map((part) => Number(part ?? 0))
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return undefined
  if (hour > 23 || minute > 59 || second > 59 || offsetHours > 23 || offsetMinutes > 59) return undefined
  const instant = new Date(text)
  const utcYear = instant.getUTCFullYear()
  return Number.isNaN(instant.getTime()) || utcYear < 1 || utcYear > 9999 ? undefined : instant
}

export const isDateTime = (text: string) => instantOf(text) !== undefined
