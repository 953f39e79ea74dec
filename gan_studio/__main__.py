import sys

from gan_studio.cli import main

sys.exit(main())
