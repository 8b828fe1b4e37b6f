// The GraphQL documents the app sends, in one place.

export const PATIENT_FIELDS = `id displayName kana lastVisitAt unreadCount urgentUnreadCount
  risk { careLevel mobility living dementia sensoryImpairment devices { kind } }`;

export const PATIENTS = `query($search: String, $after: String) {
  patients(first: 100, after: $after, search: $search) {
    edges { node { ${PATIENT_FIELDS} } }
    pageInfo { hasNextPage endCursor }
  }
}`;

export const POST_FIELDS = `id clientId patientId replyToId category body urgent visibleToFamily createdAt editedAt
  retractedAt retractReason author { username displayName }
  vitals { temperature systolic diastolic pulse spo2 respiration weight bloodGlucose pain flagged }
  readBy { user { username displayName } }
  acknowledgedBy { user { username displayName } }
  awaitingAcknowledgement { username displayName }
  overdue
  mentions { id displayName }
  photos { id url thumbnailUrl width height }`;

export const EDIT_POST = `mutation($input: EditPostInput!) { editPost(input: $input) { ${POST_FIELDS} } }`;

export const RETRACT_POST = `mutation($id: ID!, $reason: String!) {
  retractPost(postId: $id, reason: $reason) { ${POST_FIELDS} }
}`;

export const POST_HISTORY = `query($id: ID!) {
  post(id: $id) { history { revision category body writtenAt writtenBy { displayName } } }
}`;

export const ACKNOWLEDGE = `mutation($id: ID!) { acknowledgePost(postId: $id) { ${POST_FIELDS} } }`;

export const TIMELINE = `query($id: ID!, $after: String) {
  patient(id: $id) {
    id displayName
    careTeam { members { role until user { id username displayName profession } } }
    timeline(first: 30, after: $after) {
      edges { node { ${POST_FIELDS} replies { ${POST_FIELDS} } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}`;

export const PATIENT_EVENTS = `subscription($patientId: ID!, $after: String) {
  event: patientEvents(patientId: $patientId, after: $after) {
    cursor kind patientId post { ${POST_FIELDS} }
  }
}`;

export const MARK_POSTS_READ = `mutation($ids: [ID!]!) { markPostsRead(postIds: $ids) }`;

// Only what the shell needs from the user's whole feed: which patient moved, and whether a
// membership changed (a removed member is sent that one event, with the patient's id only).
export const MY_EVENTS = `subscription($after: String) {
  event: myEvents(after: $after) { cursor kind patientId }
}`;

export const PATIENT_VISIBLE = `query($id: ID!) { patient(id: $id) { id } }`;

export const NOTICES = `query {
  myNotices(first: 50) {
    unreadCount
    edges { node { id kind patientId patient { displayName } data createdAt readAt } }
  }
  myOverdueInstructions { id patientId body createdAt patient { displayName } }
}`;

export const MARK_NOTICES_READ = `mutation($ids: [ID!]!) { markNoticesRead(ids: $ids) }`;

export const TEAM = `query($id: ID!) {
  patient(id: $id) {
    id displayName myRoles
    careTeam { members { role since until user { id username displayName profession } } }
    accessHistory(first: 100) {
      edges { node { at action decision actor { displayName profession } basis { kind reason } } }
    }
  }
}`;

export const END_MEMBERSHIP = `mutation($p: ID!, $u: ID!, $reason: String!) {
  endTeamMembership(patientId: $p, userId: $u, reason: $reason) { role }
}`;

export const MY_FEED = `query($after: String, $urgentOnly: Boolean!) {
  myFeed(first: 30, after: $after, urgentOnly: $urgentOnly) {
    edges { node { ${POST_FIELDS} patient { id displayName } } }
    pageInfo { hasNextPage endCursor }
  }
}`;

// Coordinators invite: accounts of the patient's municipality not on its team, found by part of
// a name, reading or username (at least two characters; 20 at most an answer).
export const JOINABLE = `query($p: ID!, $role: TeamRole!, $search: String!) {
  joinableUsers(patientId: $p, role: $role, search: $search) { id username displayName displayNameKana profession }
}`;

/** The team's open invitations, for whoever may invite (asked only of coordinators). */
export const TEAM_INVITATIONS = `query($p: ID!) {
  teamInvitations(patientId: $p) { id role createdAt expiresAt invitee { id displayName profession } invitedBy { displayName } }
}`;

/** Who opened the record by break-the-glass, when and why (for who may read the access history). */
export const GLASS_ACCESSES = `query($p: ID!) {
  patientGlassAccesses(patientId: $p) { id reason startsAt expiresAt endedAt active user { displayName profession } }
}`;

export const INVITE = `mutation($p: ID!, $u: ID!, $role: TeamRole!) {
  inviteToTeam(patientId: $p, userId: $u, role: $role) { id role createdAt expiresAt invitee { id displayName } }
}`;

export const MY_INVITATIONS = `query { myInvitations { id role createdAt expiresAt invitedBy { displayName profession } } }`;

export const ACCEPT_INVITATION = `mutation($id: ID!) { acceptInvitation(id: $id) { role } }`;

export const DECLINE_INVITATION = `mutation($id: ID!) { declineInvitation(id: $id) { id } }`;

// Whom a post may mention: the team's members (with their ids), kept on the phone for offline use.
export const MENTIONABLE = `query($id: ID!) {
  patient(id: $id) { careTeam { members { role until user { id username displayName profession } } } }
}`;
