-- The fleet's KPIs per day (store.DayKPIs, defined once in store/kpi.go), as
-- the 06:00 report, fleet_metrics and /fleet report read them. Recomputing a
-- day gives the same row. daily_metrics keeps the per-truck numbers.
CREATE TABLE daily_fleet_metrics (
    day         date PRIMARY KEY,
    kpis        jsonb NOT NULL,
    computed_at timestamptz NOT NULL DEFAULT now(),
    -- The day's report message, updated in place when the day is rerun.
    slack_channel text NOT NULL DEFAULT '',
    slack_ts      text NOT NULL DEFAULT ''
);
