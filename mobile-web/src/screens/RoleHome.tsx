import { useSession } from "../context";
import { t, type MessageKey } from "../i18n";
import { kindOf } from "../lib/roles";
import { Counts } from "./Counts";
import { IncidentList } from "./Incidents";
import { PatientList } from "./PatientList";

// Each role other than the professionals lands here on a page that says what there is for it:
// planners and managers their municipality's incidents (災害対応) and counts, and the patients
// `patients` gives that role.
const NOTE: Record<string, MessageKey> = {
  planner: "home.planner",
  municipality: "home.municipality",
  operator: "home.operator",
  family: "home.family",
  patient: "home.patient",
};

export function RoleHome() {
  const { me } = useSession();
  const kind = kindOf(me);
  return (
    <section class="stack">
      <h1>{t("home.title", { name: me.displayName })}</h1>
      {NOTE[kind] && <p class="note">{t(NOTE[kind])}</p>}
      {(kind === "planner" || kind === "municipality") && <IncidentList />}
      {(kind === "planner" || kind === "municipality") && <Counts />}
      {kind !== "operator" && <PatientList heading={false} />}
    </section>
  );
}
