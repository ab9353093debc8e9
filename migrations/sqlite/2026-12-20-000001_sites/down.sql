-- Going back to before sites is not supported: restore the backup taken before the upgrade.
SELECT * FROM "no downgrade from sites: restore the backup taken before the upgrade";
