import sys

from nanocomplete.cli import main

sys.exit(main())
