import { describe, expect, it } from "vitest";
import { checkVital, type VitalSign } from "../src/lib/vitals";

const temperature: VitalSign = {
  name: "temperature", unit: "°C", min: 30, max: 45, whole: false, usualLow: 35, usualHigh: 37.5,
};
const pulse: VitalSign = { name: "pulse", unit: "/min", min: 20, max: 250, whole: true, usualLow: 50, usualHigh: 100 };
const weight: VitalSign = { name: "weight", unit: "kg", min: 10, max: 250, whole: false, usualLow: null, usualHigh: null };

describe("checking a vital as it is typed", () => {
  it("takes values in the usual range, with a comma as decimal point", () => {
    expect(checkVital(temperature, "36,8")).toEqual({ state: "ok", value: 36.8 });
    expect(checkVital(temperature, " 35 ")).toEqual({ state: "ok", value: 35 });
  });

  it("flags values the server keeps but flags", () => {
    expect(checkVital(temperature, "38.2")).toEqual({ state: "unusual", value: 38.2 });
    expect(checkVital(pulse, "120")).toEqual({ state: "unusual", value: 120 });
  });

  it("refuses what the server refuses, at its edges", () => {
    expect(checkVital(temperature, "3.7").state).toBe("outside");
    expect(checkVital(temperature, "45.1").state).toBe("outside");
    expect(checkVital(temperature, "45").state).toBe("unusual");
    expect(checkVital(pulse, "72.5").state).toBe("notWhole");
    expect(checkVital(pulse, "abc").state).toBe("notNumber");
  });

  it("has no usual range to leave when the server gives none", () => {
    expect(checkVital(weight, "180")).toEqual({ state: "ok", value: 180 });
  });

  it("leaves an empty field alone, and the server to decide while ranges are unknown", () => {
    expect(checkVital(temperature, "  ")).toEqual({ state: "empty" });
    expect(checkVital(undefined, "3.7")).toEqual({ state: "ok", value: 3.7 });
  });
});
