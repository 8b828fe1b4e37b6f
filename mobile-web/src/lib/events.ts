// Events the shell sends the screens on window (names in one place).

/** The patient list may have changed (counts, membership): screens showing it reload it. */
export const PATIENTS_CHANGED_EVENT = "renraku:patients-changed";
/** A patient was wiped from the phone (detail: its id): a screen showing it says so. */
export const PATIENT_LOST_EVENT = "renraku:patient-lost";
