from sclesion.cli import main

raise SystemExit(main())
