from sclesion.cli.main import main

raise SystemExit(main())
