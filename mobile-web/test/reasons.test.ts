import { describe, expect, it } from "vitest";
import type { Reason } from "../src/lib/incidents";
import { reasonPoints, reasonText } from "../src/lib/reasons";

const reason = (factor: string, params: Record<string, unknown> | string = {}, points = 0, text = `text of ${factor}`): Reason => ({
  factor,
  points,
  text,
  source: "UGF0aWVudDox",
  params: typeof params === "string" ? params : JSON.stringify(params),
});

describe("a priority reason in the reader's language", () => {
  it("words the hazard with its level, onset clock in Japan's time and how it matched", () => {
    const r = reason("hazard.level", { level: 3, multiplier: 0.6, onset: "2026-12-08T11:47:41+09:00", matched_by: "polygon" });
    expect(reasonText(r, "ja")).toBe("警戒レベル3（11:47）・自宅が範囲内");
    expect(reasonText(r, "en")).toBe("Level 3 (11:47), home inside the area");
    const noOnset = reason("hazard.level", { level: 4, onset: null, matched_by: "geocode" });
    expect(reasonText(noOnset, "ja")).toBe("警戒レベル4・地域コードで判定");
  });

  it("says when the hazard comes, or that it is under way", () => {
    expect(reasonText(reason("time.onset", { hours: 3.0, multiplier: 1 }), "ja")).toBe("3時間後に発生見込み");
    expect(reasonText(reason("time.onset", { hours: 0, multiplier: 1 }), "en")).toBe("under way");
  });

  it("names a device and its battery, or that the battery is unknown", () => {
    const known = reason("device.oxygen", { battery_hours: 4.0, outage_hours: 24, bonus: 10 }, 35);
    expect(reasonText(known, "ja")).toBe("在宅酸素（バッテリー4時間）");
    expect(reasonText(known, "en")).toBe("home oxygen, 4 h battery");
    expect(reasonText(reason("device.suction", { battery_hours: 1.5 }), "ja")).toBe("吸引器（バッテリー1.5時間）");
    expect(reasonText(reason("device.ventilator", { battery_hours: null }), "ja")).toBe("人工呼吸器（バッテリー時間不明）");
  });

  it("uses the catalogue's words for mobility, care level, living and the yes-or-no factors", () => {
    expect(reasonText(reason("mobility.bedridden"), "ja")).toBe("寝たきり");
    expect(reasonText(reason("care_level.care_4"), "ja")).toBe("要介護4");
    expect(reasonText(reason("living.alone"), "ja")).toBe("独居");
    expect(reasonText(reason("zone.landslide_special"), "ja")).toBe("土砂災害特別警戒区域");
    expect(reasonText(reason("person.no_supporter"), "en")).toBe("no named supporter");
    expect(reasonText(reason("straight.bedridden_alone"), "ja")).toBe("P1へ直行: 寝たきりで独居");
  });

  it("counts days since the last visit, and says when none is recorded", () => {
    expect(reasonText(reason("visit.recent", { days: 3 }), "ja")).toBe("最終訪問 3日前");
    expect(reasonText(reason("visit.recent", { days: 0 }), "en")).toBe("last visit today");
    expect(reasonText(reason("visit.stale", { days: 16 }), "ja")).toBe("最終訪問 16日前（長期間訪問なし）");
    expect(reasonText(reason("visit.stale", { days: null }), "ja")).toBe("訪問記録なし");
  });

  it("shows the cap and a resolved status", () => {
    expect(reasonText(reason("vulnerability.cap", { uncapped: 130 }, -30), "ja")).toBe("合計130点・上限で打ち切り");
    expect(reasonText(reason("safety.evacuated"), "ja")).toBe("解決済み: 避難済");
  });

  it("falls back to the server's English for an unknown factor or unreadable params", () => {
    expect(reasonText(reason("register.new_factor", {}, 0, "something new"), "ja")).toBe("something new");
    expect(reasonText(reason("device.oxygen", "{not json", 35, "oxygen concentrator, 4 h battery"), "ja")).toBe(
      "oxygen concentrator, 4 h battery",
    );
    expect(reasonText(reason("device.teleporter", { battery_hours: 1 }, 0, "teleporter"), "ja")).toBe("teleporter");
  });

  it("signs the points a reason adds", () => {
    expect(reasonPoints(reason("device.oxygen", {}, 35))).toBe("+35");
    expect(reasonPoints(reason("vulnerability.cap", {}, -10))).toBe("−10");
    expect(reasonPoints(reason("hazard.level"))).toBe("");
  });
});
