-- The archive of one or more Prism clusters: every committed revision
-- (changes), where each cluster's archive stands and who may move it
-- (cursor), the stretches of contiguous revisions (epochs) and full states
-- to rebuild from (checkpoints). Schema prism_archive is created by the
-- store before tern runs (its version table lives in it).

-- changes: one row per committed revision of a cluster. op 'none' is a
-- revision with no object (kind and name empty, object and payload null).
-- object is the object as the API's JSON shows it, payload its protobuf
-- encoding; both have secrets redacted.
CREATE TABLE prism_archive.changes (
    cluster_id   text        NOT NULL,
    revision     bigint      NOT NULL CHECK (revision > 0),
    epoch        bigint      NOT NULL,
    committed_at timestamptz,
    command      text        NOT NULL DEFAULT '',
    kind         text        NOT NULL CHECK (kind IN ('namespace', 'shard', '')),
    name         text        NOT NULL DEFAULT '',
    op           text        NOT NULL CHECK (op IN ('put', 'delete', 'none')),
    object       jsonb,
    payload      bytea,
    principal    text        NOT NULL DEFAULT '',
    term         bigint      NOT NULL,
    archived_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cluster_id, revision),
    CONSTRAINT changes_none_has_no_object CHECK ((op = 'none') = (kind = ''))
);

-- A name's history, newest first.
CREATE INDEX changes_history ON prism_archive.changes (cluster_id, kind, name, revision);

-- cursor: every revision of the cluster's current epoch up to revision is
-- archived; term is the raft term of the writer that owns it.
CREATE TABLE prism_archive.cursor (
    cluster_id text        PRIMARY KEY,
    revision   bigint      NOT NULL CHECK (revision >= 0),
    term       bigint      NOT NULL CHECK (term >= 0),
    epoch      bigint      NOT NULL CHECK (epoch >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The fence, inside Postgres: a cursor never goes back in term, in epoch,
-- or in revision within an epoch, whoever updates it. SQLSTATE PF001 is
-- the store's ErrFenced.
CREATE FUNCTION prism_archive.cursor_fence() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.term < OLD.term THEN
        RAISE EXCEPTION 'archive cursor of cluster % is owned by term %; an update from term % is refused', OLD.cluster_id, OLD.term, NEW.term
            USING ERRCODE = 'PF001';
    END IF;
    IF NEW.epoch < OLD.epoch THEN
        RAISE EXCEPTION 'archive cursor of cluster % is in epoch %; moving it back to epoch % is refused', OLD.cluster_id, OLD.epoch, NEW.epoch
            USING ERRCODE = 'PF001';
    END IF;
    IF NEW.epoch = OLD.epoch AND NEW.revision < OLD.revision THEN
        RAISE EXCEPTION 'archive cursor of cluster % is at revision % of epoch %; moving it back to % is refused', OLD.cluster_id, OLD.revision, OLD.epoch, NEW.revision
            USING ERRCODE = 'PF001';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

CREATE TRIGGER cursor_fence BEFORE UPDATE ON prism_archive.cursor
    FOR EACH ROW EXECUTE FUNCTION prism_archive.cursor_fence();

-- epochs: epoch e holds the revisions start_revision+1 .. end_revision
-- (its state at start_revision is a checkpoint, or empty for epoch 0).
-- end_revision is null while the epoch is the cursor's (the cursor's
-- revision is its end) and set when the next epoch opens.
CREATE TABLE prism_archive.epochs (
    cluster_id     text        NOT NULL,
    epoch          bigint      NOT NULL CHECK (epoch >= 0),
    start_revision bigint      NOT NULL CHECK (start_revision >= 0),
    end_revision   bigint      CHECK (end_revision >= start_revision),
    reason         text        NOT NULL DEFAULT '',
    term           bigint      NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cluster_id, epoch)
);

-- checkpoints: a full state (a snapshot stream, secrets redacted) at
-- revision, in epoch.
CREATE TABLE prism_archive.checkpoints (
    cluster_id   text        NOT NULL,
    revision     bigint      NOT NULL CHECK (revision >= 0),
    epoch        bigint      NOT NULL,
    committed_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    namespaces   integer     NOT NULL,
    shards       integer     NOT NULL,
    snapshot     bytea       NOT NULL,
    PRIMARY KEY (cluster_id, revision)
);
