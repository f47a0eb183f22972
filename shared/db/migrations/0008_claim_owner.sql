-- Which run holds a claim: heartbeats touch only their own run's claim, so a duplicate
-- run that lost the race never brings back a claim its winner already ended.
ALTER TABLE step_claims ADD COLUMN owner text NOT NULL DEFAULT '';
