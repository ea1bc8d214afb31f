-- Speech measures of the call (R9): per party talk, silence, segments,
-- syllables and pace; overtalk, dead air total, longest and events; talk
-- ratio. A JSON object, '{}' for calls without analysis.
ALTER TABLE records ADD COLUMN speech TEXT NOT NULL DEFAULT '{}';
