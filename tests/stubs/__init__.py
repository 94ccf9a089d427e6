"""Local stand-ins for the chat platforms' servers, shared by the http and e2e tests."""
