/** The organization made by the first migration; bootstrap and first-start clients belong to it. */
export const DEFAULT_ORGANIZATION_ID = '00000000-0000-7000-8000-000000000001'
