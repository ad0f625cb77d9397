"""The visitor log (来访登记): visits folded from kiosk events, on-site list, search, block list,
invites, host notification and the retention purge."""
