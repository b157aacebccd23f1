from devtools.adt_emulator import main

raise SystemExit(main())
