def add(a, b):
    """Returns the sum of a and b."""
    return a + b


def main():
    print(add(int(input()), int(input())))


main()
