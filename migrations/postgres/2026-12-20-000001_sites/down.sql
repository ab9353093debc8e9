-- Going back to before sites is not supported: restore the backup taken before the upgrade.
DO $$ BEGIN RAISE EXCEPTION 'no downgrade from sites: restore the backup taken before the upgrade'; END $$;
