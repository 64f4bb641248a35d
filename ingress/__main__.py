from ingress.app import main

main()
