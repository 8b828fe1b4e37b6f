import { useEffect, useState } from "preact/hooks";
import { t, type MessageKey } from "../i18n";
import { gql, OfflineError } from "../lib/api";

// What a planner or a municipality manager may see of their municipality in numbers: its patients
// counted by care level and mobility, small counts hidden outside an incident in force (the
// server decides which). The incidents themselves are listed by Incidents.tsx's IncidentList.

interface Incident {
  id: string;
  reason: string;
  level: number;
  pending: boolean;
  endsAt: string;
  active: boolean;
  patientCount: number;
}

interface Table {
  rows: string[];
  columns: string[];
  cells: (number | null)[][];
  rowTotals: (number | null)[];
  columnTotals: (number | null)[];
  total: number | null;
  suppressed: boolean;
}

const INCIDENTS = `query { incidents(active: true) { id reason level pending endsAt active patientCount } }`;
// Inside the area of an incident in force the counts are whole; elsewhere small ones are hidden.
// A pending incident (an untrusted source's alert no planner confirmed yet) unlocks nothing.
const COUNTS = `query($incidentId: ID) {
  patientCounts(rows: CARE_LEVEL, columns: MOBILITY, incidentId: $incidentId) {
    rows columns cells rowTotals columnTotals total suppressed
  }
}`;

interface Overview {
  incidents: Incident[];
  inForce: boolean;
  patientCounts: Table;
}

async function overview(): Promise<Overview> {
  const { incidents } = await gql<{ incidents: Incident[] }>(INCIDENTS);
  const inForce = incidents.find((i) => !i.pending);
  const { patientCounts } = await gql<{ patientCounts: Table }>(COUNTS, {
    incidentId: inForce?.id ?? null,
  });
  return { incidents, inForce: inForce !== undefined, patientCounts };
}

const count = (n: number | null) => (n === null ? "—" : String(n));

export function Counts() {
  const [data, setData] = useState<Overview | null>(null);
  const [failed, setFailed] = useState<string>("");
  useEffect(() => {
    overview()
      .then(setData)
      .catch((error: unknown) => setFailed(error instanceof OfflineError ? t("counts.offline") : t("counts.failed")));
  }, []);
  if (failed) return <p class="counts-note">{failed}</p>;
  if (!data) return <p class="counts-note">{t("counts.loading")}</p>;
  const table = data.patientCounts;
  return (
    <section class="stack counts-panel">
      <h2>{t("counts.title")}</h2>
      {table.suppressed && <p class="counts-note">{t("counts.suppressed")}</p>}
      <div class="table-scroll">
        <table class="count-table">
          <caption>{t(data.inForce ? "counts.captionIncident" : "counts.caption")}</caption>
          <thead>
            <tr>
              <th scope="col">{t("counts.careLevel")}</th>
              {table.columns.map((c) => (
                <th scope="col" key={c}>
                  {t(`mobility.${c}` as MessageKey)}
                </th>
              ))}
              <th scope="col">{t("counts.total")}</th>
            </tr>
          </thead>
          <tbody>
            {table.rows.map((r, i) => (
              <tr key={r}>
                <th scope="row">{t(`careLevel.${r}` as MessageKey)}</th>
                {table.cells[i].map((cell, j) => (
                  <td key={j}>{count(cell)}</td>
                ))}
                <td>{count(table.rowTotals[i])}</td>
              </tr>
            ))}
          </tbody>
          <tfoot>
            <tr>
              <th scope="row">{t("counts.total")}</th>
              {table.columnTotals.map((n, j) => (
                <td key={j}>{count(n)}</td>
              ))}
              <td>{count(table.total)}</td>
            </tr>
          </tfoot>
        </table>
      </div>
    </section>
  );
}
