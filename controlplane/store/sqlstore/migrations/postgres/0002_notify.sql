-- Every committed change wakes the long polls of every replica: NOTIFY is delivered at commit,
-- to each session that LISTENs, this one's included.
CREATE FUNCTION keyplane_notify_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM pg_notify('keyplane_changes', NEW.workspace_id || ' ' || NEW.seq);
    RETURN NULL;
END
$fn$;

CREATE TRIGGER changes_notify AFTER INSERT ON changes
    FOR EACH ROW EXECUTE FUNCTION keyplane_notify_change();
