from gridhub.cli import main

main()
