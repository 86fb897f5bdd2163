from nimbus.cli.main import main

main()
