// The disaster overlay (災害対応) as the app reads it: the municipality's incidents, an incident's
// priority list and safety board for planners, and a carer's own safety checks. The documents
// and shapes are here; the screens are screens/Incidents.tsx, IncidentMap.tsx and SafetyChecks.tsx.
import type { Geometry } from "geojson";

export const INCIDENT_FIELDS = `id reason level pending declared origin endsAt active patientCount`;

export const INCIDENTS = `query { incidents(active: true) { ${INCIDENT_FIELDS} } }`;

/** One incident with its geometry, for the map (the outline and area are large: asked only there). */
export const INCIDENT_MAP = `query { incidents(active: true) { id area municipalityOutline } }`;

export const CONFIRM_INCIDENT = `mutation($id: ID!) { confirmIncident(id: $id) { ${INCIDENT_FIELDS} } }`;
export const END_INCIDENT = `mutation($id: ID!) { endIncident(id: $id) { ${INCIDENT_FIELDS} } }`;

export const PRIORITY_PAGE = 30;

export const PRIORITY_LIST = `query($id: ID!, $first: Int, $after: String) {
  priorityList(incidentId: $id, first: $first, after: $after) {
    totalCount tierCounts
    pageInfo { hasNextPage endCursor }
    edges { node {
      tier score vulnerability stale overdue
      person { displayName kana address phone location { latitude longitude } }
      patient { id }
      reasons { factor points text source params }
      safety { status place note updatedAt assignee { id displayName } }
    } }
  }
}`;

export const SAFETY_PROGRESS = `query($id: ID!) {
  safetyProgress(incidentId: $id) { district total reached safe needsHelp evacuated hospitalised }
}`;

export const SET_SAFETY_STATUS = `mutation($input: SetSafetyStatusInput!) {
  setSafetyStatus(input: $input) { status place note updatedAt }
}`;

export const ASSIGN_SAFETY_CHECK = `mutation($incidentId: ID!, $patientId: ID!, $userId: ID) {
  assignSafetyCheck(incidentId: $incidentId, patientId: $patientId, userId: $userId) {
    status assignee { id displayName }
  }
}`;

export const MY_SAFETY_CHECKS = `query {
  mySafetyChecks {
    incidentId incidentReason incidentLevel assignedToMe
    patient { id displayName kana }
    check { status place note updatedAt assignee { id displayName } }
  }
}`;

export const ME_ID = `query { me { id displayName } }`;

/** Whom each person's call may go to (the team's professionals, then the municipality's planners
 *  and managers), for the people shown: one request, an alias a person. */
export function assignableQuery(count: number): string {
  const vars = Array.from({ length: count }, (_, i) => `$p${i}: ID!`).join(", ");
  const fields = Array.from(
    { length: count },
    (_, i) => `a${i}: assignableUsers(incidentId: $id, patientId: $p${i}) { id displayName kind profession }`,
  ).join("\n  ");
  return `query($id: ID!, ${vars}) {\n  ${fields}\n}`;
}

export interface Assignable {
  id: string;
  displayName: string;
  kind: string;
  profession: string | null;
}

export interface Incident {
  id: string;
  reason: string;
  level: number;
  pending: boolean;
  declared: boolean;
  origin: string;
  endsAt: string;
  active: boolean;
  patientCount: number;
}

// GraphQL sends the enum by its name: RESOLVED (the model's "resolved").
export type Tier = "P1" | "P2" | "P3" | "RESOLVED";
export const TIERS: readonly Tier[] = ["P1", "P2", "P3", "RESOLVED"];

export const SAFETY_STATUSES = ["UNKNOWN", "CONTACTED", "SAFE", "NEEDS_HELP", "EVACUATED", "HOSPITALISED"] as const;
export type SafetyStatus = (typeof SAFETY_STATUSES)[number];
/** The statuses that say where the person went: the form asks where. */
export const NEEDS_PLACE: ReadonlySet<SafetyStatus> = new Set(["EVACUATED", "HOSPITALISED"]);

export interface Reason {
  factor: string;
  points: number;
  text: string;
  source: string;
  /** JSON text of the factor's parameters (hours, days, level). */
  params: string;
}

export interface SafetyCheck {
  status: SafetyStatus;
  place: string;
  note: string;
  updatedAt: string | null;
  assignee?: { id: string; displayName: string } | null;
}

export interface PriorityEntry {
  tier: Tier;
  score: number;
  vulnerability: number;
  stale: boolean;
  overdue: boolean;
  person: {
    displayName: string;
    kana: string;
    address: string;
    phone: string | null;
    location: { latitude: number; longitude: number } | null;
  };
  patient: { id: string } | null;
  reasons: Reason[];
  safety: SafetyCheck | null;
}

export interface PriorityPage {
  totalCount: number;
  tierCounts: number[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  edges: { node: PriorityEntry }[];
}

export interface DistrictProgress {
  district: string;
  total: number;
  reached: number;
  safe: number;
  needsHelp: number;
  evacuated: number;
  hospitalised: number;
}

export interface MySafetyCheck {
  incidentId: string;
  incidentReason: string;
  incidentLevel: number;
  assignedToMe: boolean;
  patient: { id: string; displayName: string; kana: string };
  check: SafetyCheck;
}

export interface SetSafetyInput {
  incidentId: string;
  patientId: string;
  status: SafetyStatus;
  place: string;
  note: string;
  clientId: string;
}

/** Assigned to me first, then the people still unknown, then by kana. */
export function sortChecks(checks: MySafetyCheck[]): MySafetyCheck[] {
  const open = (c: MySafetyCheck) => (c.check.status === "UNKNOWN" || c.check.status === "NEEDS_HELP" ? 0 : 1);
  return [...checks].sort(
    (a, b) =>
      Number(b.assignedToMe) - Number(a.assignedToMe) ||
      open(a) - open(b) ||
      a.patient.kana.localeCompare(b.patient.kana, "ja"),
  );
}

/** The incidents in force (not pending) each patient is inside, from mySafetyChecks. */
export function incidentsByPatient(checks: MySafetyCheck[]): Map<string, { level: number; reason: string }> {
  const by = new Map<string, { level: number; reason: string }>();
  for (const c of checks) {
    const known = by.get(c.patient.id);
    if (!known || known.level < c.incidentLevel) by.set(c.patient.id, { level: c.incidentLevel, reason: c.incidentReason });
  }
  return by;
}

/** A GeoJSON geometry sent as text, or null when absent or unreadable. */
export function parseGeometry(text: string | null | undefined): Geometry | null {
  if (!text) return null;
  try {
    const parsed = JSON.parse(text) as Geometry;
    return parsed && typeof parsed === "object" && "type" in parsed ? parsed : null;
  } catch {
    return null;
  }
}
