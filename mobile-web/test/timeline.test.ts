import { describe, expect, it } from "vitest";
import { merge } from "../src/lib/timeline";
import type { PostRow } from "../src/lib/types";

const post = (id: string, createdAt: string, extra: Partial<PostRow> = {}): PostRow => ({
  id, clientId: id, patientId: "p", author: null, category: "OTHER", body: id, vitals: null, urgent: false,
  visibleToFamily: false, createdAt, editedAt: null, retractedAt: null, retractReason: null, readBy: null,
  acknowledgedBy: null, awaitingAcknowledgement: null, overdue: false, photos: [], ...extra,
});

describe("merging posts into a timeline", () => {
  it("keeps one row per post, newest first", () => {
    const merged = merge([post("a", "2026-01-01T00:00:00Z")], [post("b", "2026-01-02T00:00:00Z"), post("a", "2026-01-01T00:00:00Z", { body: "edited" })]);
    expect(merged.map((p) => [p.id, p.body])).toEqual([["b", "b"], ["a", "edited"]]);
  });

  it("puts a reply into its thread, oldest first, once", () => {
    const thread = post("t", "2026-01-01T00:00:00Z", { replies: [post("r1", "2026-01-01T01:00:00Z", { replyToId: "t" })] });
    const reply = post("r2", "2026-01-01T02:00:00Z", { replyToId: "t" });
    const merged = merge(merge([thread], [reply]), [reply]);
    expect(merged.map((p) => p.id)).toEqual(["t"]);
    expect(merged[0].replies?.map((r) => r.id)).toEqual(["r1", "r2"]);
  });

  it("keeps a thread's replies when a live event brings the thread without them", () => {
    const thread = post("t", "2026-01-01T00:00:00Z", { replies: [post("r1", "2026-01-01T01:00:00Z", { replyToId: "t" })] });
    const merged = merge([thread], [post("t", "2026-01-01T00:00:00Z", { body: "read by more" })]);
    expect(merged[0].body).toBe("read by more");
    expect(merged[0].replies?.map((r) => r.id)).toEqual(["r1"]);
  });

  it("shows a reply whose thread is not here on its own", () => {
    expect(merge([], [post("r", "2026-01-01T00:00:00Z", { replyToId: "elsewhere" })]).map((p) => p.id)).toEqual(["r"]);
  });
});
