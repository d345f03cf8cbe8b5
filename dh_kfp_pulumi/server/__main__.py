"""`python -m dh_kfp_pulumi.server [--data-dir D] [--port P] ...`: serve in the foreground.

What `lifecycle.start` runs in the background; it avoids loading the whole `dh-kfp` CLI.
"""

import sys

from dh_kfp_pulumi.server.lifecycle import _main

raise SystemExit(_main(sys.argv[1:]))
