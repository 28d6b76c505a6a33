-- The weekly report's message, on the row of the week's last day: a rerun
-- of the week updates it rather than posting again.
ALTER TABLE daily_fleet_metrics
    ADD COLUMN weekly_slack_channel text NOT NULL DEFAULT '',
    ADD COLUMN weekly_slack_ts      text NOT NULL DEFAULT '';
