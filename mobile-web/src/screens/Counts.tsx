import { useEffect, useState } from "preact/hooks";
import { formatDateTime, t, type MessageKey } from "../i18n";
import { gql, OfflineError } from "../lib/api";

// What a planner or a municipality manager may see of their municipality before the disaster
// overlay's screens exist: its emergencies and its patients counted by care level and mobility,
// small counts hidden outside an active emergency (the server decides which).

interface Emergency {
  id: string;
  reason: string;
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

const EMERGENCIES = `query { emergencies(active: true) { id reason endsAt active patientCount } }`;
// Inside an active emergency's area the counts are whole; elsewhere small ones are hidden.
const COUNTS = `query($emergencyId: ID) {
  patientCounts(rows: CARE_LEVEL, columns: MOBILITY, emergencyId: $emergencyId) {
    rows columns cells rowTotals columnTotals total suppressed
  }
}`;

async function overview(): Promise<{ emergencies: Emergency[]; patientCounts: Table }> {
  const { emergencies } = await gql<{ emergencies: Emergency[] }>(EMERGENCIES);
  const { patientCounts } = await gql<{ patientCounts: Table }>(COUNTS, {
    emergencyId: emergencies[0]?.id ?? null,
  });
  return { emergencies, patientCounts };
}

const count = (n: number | null) => (n === null ? "—" : String(n));

export function Counts() {
  const [data, setData] = useState<{ emergencies: Emergency[]; patientCounts: Table } | null>(null);
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
    <section class="stack counts">
      <h2>{t("counts.emergencies")}</h2>
      {data.emergencies.length === 0 ? (
        <p class="empty">{t("counts.noEmergency")}</p>
      ) : (
        <ul class="emergencies">
          {data.emergencies.map((e) => (
            <li key={e.id}>
              <strong>{e.reason}</strong>
              <span class="sub">
                {t("counts.emergencyUntil", { until: formatDateTime(e.endsAt), count: e.patientCount })}
              </span>
            </li>
          ))}
        </ul>
      )}
      <h2>{t("counts.title")}</h2>
      {table.suppressed && <p class="counts-note">{t("counts.suppressed")}</p>}
      <div class="table-scroll">
        <table class="count-table">
          <caption>{t(data.emergencies.length ? "counts.captionEmergency" : "counts.caption")}</caption>
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
