from hltk_cli.app import main

main()
