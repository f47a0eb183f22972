-- What asked for an attempt (a regrade and its choice of config): the same request
-- within a minute answers the attempt it made instead of making another.
ALTER TABLE attempts ADD COLUMN requested text;
