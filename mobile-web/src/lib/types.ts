// The shapes the app reads from the GraphQL API (the fields it asks for, nothing more).

export type UserKind = "PROFESSIONAL" | "FAMILY" | "PATIENT" | "MUNICIPALITY" | "PLANNER" | "OPERATOR";

export interface Me {
  username: string;
  displayName: string;
  kind: string; // lower case from /auth/me (seed kinds), upper case from GraphQL; compare lower-cased
  profession: string | null;
}

export interface Risk {
  careLevel: string;
  mobility: string;
  living: string;
  dementia: boolean;
  sensoryImpairment: boolean;
  devices: { kind: string }[];
}

export interface PatientRow {
  id: string;
  displayName: string;
  kana: string;
  lastVisitAt: string | null;
  unreadCount: number | null;
  urgentUnreadCount: number | null;
  risk: Risk | null;
}

export type VitalName =
  | "temperature"
  | "systolic"
  | "diastolic"
  | "pulse"
  | "spo2"
  | "respiration"
  | "weight"
  | "bloodGlucose"
  | "pain";

export type Vitals = Partial<Record<VitalName, number | null>> & { flagged?: string[] };

export const CATEGORIES = [
  "VISIT_REPORT",
  "VITALS",
  "MEDICATION",
  "MEALS",
  "EXCRETION",
  "SLEEP",
  "MOOD",
  "SKIN",
  "INCIDENT",
  "INSTRUCTION",
  "OTHER",
] as const;
export type Category = (typeof CATEGORIES)[number];

export interface PostRow {
  id: string;
  clientId: string;
  patientId: string;
  replyToId?: string | null;
  /** The thread's replies, oldest first (top-level posts of a timeline only). */
  replies?: PostRow[];
  author: Person | null;
  category: Category;
  body: string;
  vitals: Vitals | null;
  urgent: boolean;
  visibleToFamily: boolean;
  createdAt: string;
  editedAt: string | null;
  retractedAt: string | null;
  retractReason: string | null;
  readBy: { user: Person }[] | null;
  acknowledgedBy: { user: Person }[] | null;
  awaitingAcknowledgement: Person[] | null;
  overdue: boolean;
  /** Whom the post mentions (absent on posts kept from before the server said). */
  mentions?: { id: string; displayName: string }[];
  photos: Photo[];
}

export interface Photo {
  id: string;
  url: string;
  thumbnailUrl: string;
  width: number;
  height: number;
}

export interface Person {
  username: string;
  displayName: string;
}

export interface CreatePostInput {
  patientId: string;
  clientId: string;
  category: Category;
  body: string;
  vitals: Partial<Record<VitalName, number>> | null;
  urgent: boolean;
  visibleToFamily: boolean;
  uploadIds?: string[];
  /** The post this one answers: it joins that post's thread. */
  replyTo?: string | null;
  /** Team members to notify; each must be able to read the post (the server refuses others). */
  mentionIds?: string[];
}
