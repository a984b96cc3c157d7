from services.ctl.cli import main

main()
