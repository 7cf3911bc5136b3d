"""The judge: runs a case on an engine and gives the one verdict (pass, fail, unsupported,
known defect held to its signature), and the mutation self-test that proves it can fail."""
