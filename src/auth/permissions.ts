/**
 * Permissions use the Genesys names where Genesys defines the operation (spec §4) and the same scheme for this
 * store's own operations (ingest and delete of recordings).
 */
export const PERMISSIONS = {
  'recording:recording:view': 'Read recordings and their metadata',
  'recording:recordingSegment:view': 'Read recordings (segment access)',
  'recording:snippetRecording:view': 'Read snippet recordings',
  'recording:screenRecording:view': 'Read screen recordings',
  'recording:recording:editRetention': 'Change archive and delete dates of recordings',
  'recording:screenRecording:editRetention': 'Change archive and delete dates of screen recordings',
  'recording:snippetRecording:editRetention': 'Change archive and delete dates of snippet recordings',
  'recording:recording:restore': 'Restore archived recordings (a later archive date)',
  'recording:screenRecording:restore': 'Restore archived screen recordings',
  'recording:snippetRecording:restore': 'Restore archived snippet recordings',
  'recording:recording:add': 'Ingest recordings (this store)',
  'recording:recording:delete': 'Delete recordings (this store)',
  'recording:annotation:view': 'Read annotations',
  'recording:annotation:add': 'Create annotations',
  'recording:annotation:edit': 'Change annotations',
  'recording:annotation:delete': 'Delete annotations',
  'recording:deletionProtection:apply': 'Protect conversations from deletion of their recordings',
  'recording:deletionProtection:revoke': 'Lift the deletion protection of conversations',
  'recording:settings:view': 'Read the recording settings (this store)',
  'recording:settings:editScreenRecordings': 'Change the screen recording settings',
  'recording:settings:editRegionalStorage': 'Change the regional storage setting',
  'recording:settings:editUrlExpiration': 'Change how long playback and batch download URLs stay valid',
  'recording:settings:editConferenceRecording': 'Change the conference recording setting',
  'recording:settings:editHierarchyAccessControl': 'Change the hierarchy access control setting',
  'recording:retentionPolicy:view': 'Read media retention policies',
  'recording:retentionPolicy:add': 'Create media retention policies',
  'recording:retentionPolicy:edit': 'Change media retention policies',
  'recording:retentionPolicy:delete': 'Delete media retention policies',
  'recording:crossPlatformRetentionPolicy:view': 'Read cross-platform media retention policies',
  'recording:crossPlatformRetentionPolicy:add': 'Create cross-platform media retention policies',
  'recording:crossPlatformRetentionPolicy:edit': 'Change cross-platform media retention policies',
  'recording:crossPlatformRetentionPolicy:delete': 'Delete cross-platform media retention policies',
  'recording:webhook:view': 'Read webhook subscriptions and their deliveries (this store)',
  'recording:webhook:add': 'Subscribe webhooks to change events (this store)',
  'recording:webhook:edit': 'Change webhooks, make new secrets, redeliver and ping (this store)',
  'recording:webhook:delete': 'Delete webhooks (this store)',
  'recording:job:add': 'Create recording bulk jobs (archive, delete, export)',
  'recording:job:view': 'Read recording bulk jobs and their failed recordings',
  'recording:job:edit': 'Execute recording bulk jobs',
  'recording:job:delete': 'Cancel or remove recording bulk jobs',
} as const
export type Permission = keyof typeof PERMISSIONS
export const ALL_PERMISSIONS = Object.keys(PERMISSIONS) as Permission[]

export const isPermission = (value: string): value is Permission => value in PERMISSIONS

/** The OAuth security scheme's name, as in the Genesys API definition the SDK is generated from. */
export const SECURITY_SCHEME = 'PureCloud OAuth'

const VIEW_RECORDINGS: Permission[] = [
  'recording:recording:view', 'recording:recordingSegment:view', 'recording:snippetRecording:view', 'recording:screenRecording:view',
]

const EDIT_RETENTION: Permission[] = ['recording:recording:editRetention', 'recording:screenRecording:editRetention', 'recording:snippetRecording:editRetention']

/** Any one of the listed permissions grants access (Genesys "ANY"). */
export const REQUIRES = {
  viewRecordings: VIEW_RECORDINGS,
  editRetention: EDIT_RETENTION,
  /** The retention PUT: editing the dates, or only restoring archived media (a later archiveDate) with a restore one. */
  updateRetention: [...EDIT_RETENTION, 'recording:recording:restore', 'recording:screenRecording:restore', 'recording:snippetRecording:restore'],
  addRecording: ['recording:recording:add'],
  deleteRecording: ['recording:recording:delete'],
  viewAnnotations: ['recording:annotation:view', ...VIEW_RECORDINGS],
  saveAnnotation: ['recording:annotation:add', 'recording:annotation:edit'],
  deleteAnnotation: ['recording:annotation:delete'],
  queryRetention: ['recording:recording:view'],
  manageDeletionProtection: ['recording:deletionProtection:apply', 'recording:deletionProtection:revoke'],
  viewSettings: ['recording:settings:view'],
  editSettings: [
    'recording:settings:editScreenRecordings', 'recording:settings:editRegionalStorage', 'recording:settings:editUrlExpiration',
    'recording:settings:editConferenceRecording', 'recording:settings:editHierarchyAccessControl',
  ],
  viewRetentionPolicies: ['recording:retentionPolicy:view'],
  addRetentionPolicy: ['recording:retentionPolicy:add'],
  editRetentionPolicy: ['recording:retentionPolicy:edit'],
  deleteRetentionPolicy: ['recording:retentionPolicy:delete'],
  viewCrossPlatformRetentionPolicies: ['recording:crossPlatformRetentionPolicy:view'],
  addCrossPlatformRetentionPolicy: ['recording:crossPlatformRetentionPolicy:add'],
  editCrossPlatformRetentionPolicy: ['recording:crossPlatformRetentionPolicy:edit'],
  deleteCrossPlatformRetentionPolicy: ['recording:crossPlatformRetentionPolicy:delete'],
  viewWebhooks: ['recording:webhook:view'],
  addWebhook: ['recording:webhook:add'],
  editWebhook: ['recording:webhook:edit'],
  deleteWebhook: ['recording:webhook:delete'],
  addRecordingJob: ['recording:job:add'],
  viewRecordingJobs: ['recording:job:view'],
  /** Genesys "ALL": executing a job changes retention dates, so it takes the retention permissions too. */
  executeRecordingJob: ['recording:job:edit', ...EDIT_RETENTION],
  deleteRecordingJob: ['recording:job:delete'],
} satisfies Record<string, Permission[]>

/**
 * Route-schema `security` for "any one of these permissions": one requirement object per permission, which OpenAPI
 * reads as alternatives. The auth plugin checks the same list, so the document and the rule cannot drift apart.
 */
export const requireAny = (permissions: readonly Permission[]) => ({
  security: permissions.map((permission) => ({ [SECURITY_SCHEME]: [permission] })),
})

/** Route-schema `security` for "all of these permissions" (Genesys "ALL"): one requirement object with every scope. */
export const requireAll = (permissions: readonly Permission[]) => ({
  security: [{ [SECURITY_SCHEME]: [...permissions] }],
})
