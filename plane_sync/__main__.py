from plane_sync.cli import main

raise SystemExit(main())
