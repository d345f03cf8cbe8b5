from dh_kfp_pulumi.cli import main

raise SystemExit(main())
