-- A result graded elsewhere keeps what its sender said about it (repository, commit, ...).
ALTER TABLE submissions ADD COLUMN submission_metadata jsonb;
