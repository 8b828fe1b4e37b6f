import { afterEach, describe, expect, it, vi } from "vitest";
import { fetchPriority } from "../src/screens/Incidents";

/** A server holding `people` entries, answering priorityList pages by cursor. */
function server(people: number) {
  const asked: { first: number; after: string | null }[] = [];
  const fetch = vi.fn(async (_url: string, init: RequestInit) => {
    const { variables } = JSON.parse(String(init.body)) as { variables: { first: number; after: string | null } };
    asked.push({ first: variables.first, after: variables.after });
    const start = variables.after === null ? 0 : Number(variables.after);
    const end = Math.min(people, start + variables.first);
    const edges = Array.from({ length: end - start }, (_, i) => ({ node: { n: start + i } }));
    const body = {
      data: {
        priorityList: {
          totalCount: people,
          tierCounts: [people, 0, 0, 0],
          pageInfo: { hasNextPage: end < people, endCursor: String(end) },
          edges,
        },
      },
    };
    return new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json" } });
  });
  vi.stubGlobal("fetch", fetch);
  return asked;
}
afterEach(() => vi.unstubAllGlobals());

describe("the priority list's pages", () => {
  it("asks for what is shown and no more", async () => {
    const asked = server(50);
    const page = await fetchPriority("inc", 30);
    expect(page.edges).toHaveLength(30);
    expect(page.pageInfo.hasNextPage).toBe(true);
    expect(asked).toEqual([{ first: 30, after: null }]);
  });

  it("goes on from each page's cursor, at most 100 at a time, until the list ends", async () => {
    const asked = server(250);
    const page = await fetchPriority("inc", 10_000);
    expect(page.edges.map((e) => (e.node as unknown as { n: number }).n)).toEqual([...Array(250).keys()]);
    expect(page.pageInfo.hasNextPage).toBe(false);
    expect(asked).toEqual([
      { first: 100, after: null },
      { first: 100, after: "100" },
      { first: 100, after: "200" },
    ]);
  });
});
