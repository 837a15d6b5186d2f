-- Datasets and what hangs off them: their validation results, the pages
-- agents upload, the cache of synced records with its current-snapshot
-- pointers, and the counts of datasets by status. A company's rows go with
-- it by cascade. Ids whose order a caller sees are COLLATE "C": byte
-- order, as Badger's keys, whatever the database's locale.

-- datasets: doc is the store.Dataset's JSON, as bytea rather than jsonb,
-- which refuses the escape \u0000 that an agent's message may hold (and
-- costs a parse on every write). The columns beside it never change
-- after the insert (status aside, which no index holds), so that a
-- dataset's update is a HOT update, writing no index. The lookups by what
-- does change are rows of the tables after it, which putDataset keeps in
-- step with the doc, as Badger's index keys: every SERIALIZABLE reader of
-- an index page would otherwise conflict with every writer of a dataset on
-- that page. The fill factor leaves a page room for its rows' updates.
CREATE TABLE datasets (
	id text COLLATE "C" PRIMARY KEY,
	company_id text NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
	connection_id text NOT NULL,
	data_type text NOT NULL,
	requested timestamptz NOT NULL,
	status text NOT NULL,
	doc bytea NOT NULL
) WITH (fillfactor = 60);
-- Datasets, newest requested first (and the cascade from companies).
CREATE INDEX datasets_company ON datasets (company_id, requested DESC, id DESC);
-- DataStatus: the type's newest.
CREATE INDEX datasets_type ON datasets (company_id, data_type, requested DESC, id DESC);

-- dataset_active: the non-terminal dataset of each type and connection;
-- its key holds one across every replica.
CREATE TABLE dataset_active (
	connection_id text NOT NULL,
	data_type text NOT NULL,
	dataset_id text COLLATE "C" NOT NULL UNIQUE REFERENCES datasets (id) ON DELETE CASCADE,
	PRIMARY KEY (connection_id, data_type)
);

-- dataset_queue: the Queued datasets, for QueuedDatasets in dispatch order.
CREATE TABLE dataset_queue (
	dataset_id text COLLATE "C" PRIMARY KEY REFERENCES datasets (id) ON DELETE CASCADE,
	connection_id text NOT NULL,
	sync_order int NOT NULL,
	requested timestamptz NOT NULL
);
CREATE INDEX dataset_queue_order ON dataset_queue (connection_id, sync_order, requested, dataset_id);

-- dataset_leases: the datasets in flight (Fetching, Mapping), by the
-- expiry of their lease (ExpireLeases) and its agent while one holds it
-- (RenewLeases).
CREATE TABLE dataset_leases (
	dataset_id text COLLATE "C" PRIMARY KEY REFERENCES datasets (id) ON DELETE CASCADE,
	expires timestamptz NOT NULL,
	agent_id text
);
CREATE INDEX dataset_leases_expires ON dataset_leases (expires, dataset_id);
CREATE INDEX dataset_leases_agent ON dataset_leases (agent_id, dataset_id) WHERE agent_id IS NOT NULL;

-- dataset_unprocessed: the datasets Validating or Processing (Unprocessed).
CREATE TABLE dataset_unprocessed (
	dataset_id text COLLATE "C" PRIMARY KEY REFERENCES datasets (id) ON DELETE CASCADE
);

-- dataset_complete: the Complete datasets, for DataStatus's newest success.
CREATE TABLE dataset_complete (
	dataset_id text COLLATE "C" PRIMARY KEY REFERENCES datasets (id) ON DELETE CASCADE,
	company_id text NOT NULL,
	data_type text NOT NULL,
	requested timestamptz NOT NULL
);
CREATE INDEX dataset_complete_type ON dataset_complete (company_id, data_type, requested DESC, dataset_id DESC);

-- validations: doc is the store.ValidationResult's JSON, bytea as the
-- datasets' (its messages quote the records).
CREATE TABLE validations (
	dataset_id text COLLATE "C" PRIMARY KEY REFERENCES datasets (id) ON DELETE CASCADE,
	doc bytea NOT NULL
);

-- pages: the staged upload pages, by the lease they were staged under, so
-- that an earlier attempt's are out of sight the moment a new claim
-- commits. lines is the page's line index (page.go), null when the
-- uploader gave none. Pages are transient and mostly large: stored
-- uncompressed, which costs disk and saves the time of compressing them.
CREATE TABLE pages (
	dataset_id text COLLATE "C" NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
	lease_id text NOT NULL,
	n int NOT NULL,
	agent_id text NOT NULL,
	records int NOT NULL,
	lines bytea,
	data bytea NOT NULL,
	PRIMARY KEY (dataset_id, lease_id, n)
);
ALTER TABLE pages ALTER COLUMN data SET STORAGE EXTERNAL;
ALTER TABLE pages ALTER COLUMN lines SET STORAGE EXTERNAL;

-- ended_pages: the datasets that ended after staging pages, whose pages
-- PublishCache deletes.
CREATE TABLE ended_pages (
	dataset_id text COLLATE "C" PRIMARY KEY REFERENCES datasets (id) ON DELETE CASCADE
);

-- The records cache. A snapshot is the records of one dataset; it is
-- listed in cache_snapshots while its records exist, and cache_current
-- points at the current snapshot of each (company, data type). records
-- has no foreign key, which would cost a lookup per row of each COPY:
-- deleting a snapshot's row (by cascade from its company, or a publish's
-- cleanup) deletes its records, by the trigger below. Of two lines with
-- one id in a snapshot the later (higher seq) is the record.
CREATE TABLE cache_snapshots (
	dataset_id text COLLATE "C" PRIMARY KEY,
	company_id text NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
	data_type text NOT NULL
);
CREATE INDEX cache_snapshots_type ON cache_snapshots (company_id, data_type);

CREATE TABLE cache_current (
	company_id text NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
	data_type text NOT NULL,
	dataset_id text COLLATE "C" NOT NULL,
	PRIMARY KEY (company_id, data_type)
);

CREATE TABLE records (
	dataset_id text COLLATE "C" NOT NULL,
	id text COLLATE "C" NOT NULL,
	seq bigint NOT NULL,
	body bytea NOT NULL
);
CREATE UNIQUE INDEX records_id ON records (dataset_id, id, seq DESC);

CREATE FUNCTION ferry_snapshots_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM records WHERE dataset_id IN (SELECT dataset_id FROM gone);
	RETURN NULL;
END $$;
CREATE TRIGGER cache_snapshots_deleted AFTER DELETE ON cache_snapshots
	REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION ferry_snapshots_deleted();

-- The counts of datasets by status (counts.go): each dataset write adds
-- its delta rows, which concurrent writers never contend on, and
-- DatasetCounts folds them into dataset_counts. A company's datasets
-- deleted by cascade add theirs by the trigger below.
CREATE TABLE dataset_counts (
	status text PRIMARY KEY,
	n bigint NOT NULL
);

CREATE TABLE dataset_count_deltas (
	id bigserial PRIMARY KEY,
	status text NOT NULL,
	delta int NOT NULL
);

CREATE FUNCTION ferry_datasets_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO dataset_count_deltas (status, delta) SELECT status, -count(*) FROM gone GROUP BY status;
	RETURN NULL;
END $$;
CREATE TRIGGER datasets_deleted AFTER DELETE ON datasets
	REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION ferry_datasets_deleted();
