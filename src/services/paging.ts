/** The Genesys paging members of a listing at `path` (its other query members in `query`). */
export function pageLinks(path: string, query: Record<string, string | number | boolean | undefined>, pageSize: number, pageNumber: number, total: number) {
  const pageCount = Math.ceil(total / pageSize)
  const uri = (n: number) => {
    const params = new URLSearchParams({ pageSize: String(pageSize), pageNumber: String(n) })
    for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value))
    return `${path}?${params.toString()}`
  }
  return {
    pageSize,
    pageNumber,
    total,
    pageCount,
    firstUri: uri(1),
    selfUri: uri(pageNumber),
    ...(pageNumber < pageCount ? { nextUri: uri(pageNumber + 1) } : {}),
    ...(pageNumber > 1 ? { previousUri: uri(Math.min(pageNumber - 1, Math.max(pageCount, 1))) } : {}),
    lastUri: uri(Math.max(pageCount, 1)),
  }
}
