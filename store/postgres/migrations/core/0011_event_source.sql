-- How an event's change came about, when the publisher says (issue 19): {"type": "api", "info": {...}}
-- as JSON. NULL for events published before, and for those that say nothing.
ALTER TABLE events ADD COLUMN source TEXT;
