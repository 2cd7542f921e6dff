import sys

from bosun.cli import main

sys.exit(main())
