// The analysis queries bench/analysis.mjs times on D1 and ClickHouse, over the data of
// tests/helpers/generate.mjs starting at T0: one list, so both stores answer the same questions.
export const T0 = Date.UTC(2026, 10, 1);
export const DAY = 86_400_000;
export const iso = (ms) => new Date(ms).toISOString();

// The generated history's two weeks, and the shop funnel several queries share.
const RANGE = { from: iso(T0), to: iso(T0 + 14 * DAY) };
const SHOP_STEPS = [{ event: "Product Viewed" }, { event: "Added To Cart" }, { event: "Order Completed" }];

export const QUERIES = {
  "funnel: 3 track steps, 1d window": [
    "/v1/query/funnel",
    {
      steps: SHOP_STEPS,
      ...RANGE,
      window: "1d",
    },
  ],
  "funnel: + breakdown by category": [
    "/v1/query/funnel",
    {
      steps: SHOP_STEPS,
      ...RANGE,
      window: "1d",
      breakdown: "properties.category",
    },
  ],
  "funnel: $pageview step + property filters": [
    "/v1/query/funnel",
    {
      steps: [
        { event: "$pageview", filters: [{ field: "properties.path", value: "/" }] },
        { event: "Product Viewed", filters: [{ field: "properties.price", op: "gte", value: 50 }] },
        { event: "Order Completed" },
      ],
      ...RANGE,
      window: "6h",
    },
  ],
  "retention: new visitors back to buy, daily": [
    "/v1/query/retention",
    {
      start: { event: "$pageview" },
      return: { event: "Order Completed" },
      ...RANGE,
      interval: "day",
    },
  ],
  "retention: every week with a view, viewing again": [
    "/v1/query/retention",
    {
      start: { event: "Product Viewed" },
      ...RANGE,
      interval: "week",
      cohort: "every",
    },
  ],
  "drivers: viewed → bought, events + category": [
    "/v1/query/drivers",
    {
      steps: [{ event: "Product Viewed" }, { event: "Order Completed" }],
      ...RANGE,
      window: "1d",
      properties: ["properties.category"],
    },
  ],
  "insight: Product Viewed per day, America/New_York": [
    "/v1/query/insight",
    {
      event: "Product Viewed",
      ...RANGE,
      interval: "day",
      timezone: "America/New_York",
    },
  ],
  "segment: viewed ≥3× in 7d and never bought": [
    "/v1/query/segment",
    {
      asOf: iso(T0 + 14 * DAY),
      limit: 100,
      where: {
        and: [
          { did: { event: "Product Viewed", min: 3, within: "7d" } },
          { not: { did: { event: "Order Completed" } } },
        ],
      },
    },
  ],
  "segment: trait plan=pro or last seen >10d ago": [
    "/v1/query/segment",
    {
      asOf: iso(T0 + 14 * DAY),
      limit: 100,
      where: { or: [{ trait: { name: "plan", value: "pro" } }, { lastSeen: { before: "10d" } }] },
    },
  ],
  "insight: Product Viewed per day by category": [
    "/v1/query/insight",
    {
      event: "Product Viewed",
      ...RANGE,
      interval: "day",
      breakdown: "properties.category",
    },
  ],
  "insight: all events per hour": [
    "/v1/query/insight",
    {
      from: iso(T0),
      to: iso(T0 + 7 * DAY),
      interval: "hour",
    },
  ],
  "insight: Product Viewed by first-seen week (New York)": [
    "/v1/query/insight",
    {
      event: "Product Viewed",
      ...RANGE,
      interval: "day",
      timezone: "America/New_York",
      cohort: { by: "first_seen", period: "week" },
    },
  ],
  "funnel: 3 track steps by trait plan": [
    "/v1/query/funnel",
    {
      steps: SHOP_STEPS,
      ...RANGE,
      window: "1d",
      cohort: { by: "trait", trait: "plan" },
    },
  ],
};

/**
 * The queries the ClickHouse comparison runs: not segments (they join D1 profiles with events,
 * D1 only). Trait cohorts read ClickHouse's `users` (the profile mirror), any number of them.
 */
export const CLICKHOUSE_QUERIES = Object.fromEntries(
  Object.entries(QUERIES).filter(([, [path]]) => path !== "/v1/query/segment"),
);
