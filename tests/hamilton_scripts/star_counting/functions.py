from hamilton.htypes import Collect, Parallelizable

# what a stargazers API would answer: repository -> pages of user logins
STARGAZERS = {
    "org/a": [["ana", "bo"], ["cy"]],
    "org/b": [["bo", "dee", "eve"]],
    "org/c": [],
    "org/d": [["ana"], ["fay", "gus"], ["hal"]],
}


def repository(repositories: list[str]) -> Parallelizable[str]:
    yield from repositories


def pages(repository: str, api: dict) -> list[list[str]]:
    return api[repository]


def stargazers(pages: list[list[str]]) -> set[str]:
    return {user for page in pages for user in page}


def all_stargazers(stargazers: Collect[set[str]]) -> list[set[str]]:
    return list(stargazers)


def unique_stargazers(all_stargazers: list[set[str]]) -> list[str]:
    found: set[str] = set()
    for users in all_stargazers:
        found |= users
    return sorted(found)


def final_count(all_stargazers: list[set[str]]) -> int:
    """Stars over all repositories (a user starring two counts twice)."""
    return sum(len(users) for users in all_stargazers)
