from memcache_py.main import main

raise SystemExit(main())
