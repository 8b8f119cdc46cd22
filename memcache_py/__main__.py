from memcache_py.cli import main

raise SystemExit(main())
