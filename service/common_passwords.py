"""Passwords long enough for the length rule that still fall to the first guesses of any
attacker (from the public lists of leaked passwords); ``passwords.check_password`` refuses
them, case-insensitively."""

from __future__ import annotations

COMMON_PASSWORDS = frozenset(
    """
    0000000000 0123456789 0987654321 1111111111 1122334455 1234567890 12345678910
    123456789a 123456789q 1234qwer 1234567890a 1234567890q 123123123123 1234512345
    1q2w3e4r5t 1q2w3e4r5t6y 1qaz2wsx3edc 1qazxsw23edc a123456789 a1b2c3d4e5 aa12345678
    abc1234567 abcd123456 abcdefghij abcdefg123 administrator admin12345 admin123456
    asdfghjkl1 asdfghjkl; azertyuiop baseball123 basketball changeme123 charlie123
    computer123 dragon1234 football123 football1 1234554321 iloveyou12 iloveyou123
    letmein123 letmeinnow master1234 michael123 monkey1234 mustang123 password00
    password01 password11 password12 password123 password1234 password12345 password!
    passw0rd12 passw0rd123 p@ssw0rd123 p@ssword123 princess12 princess123 qazwsxedc123
    qwerty1234 qwerty12345 qwerty123456 qwertyuiop qwertyuiop123 q1w2e3r4t5 q1w2e3r4t5y6
    shadow1234 starwars12 starwars123 sunshine12 sunshine123 superman12 superman123
    trustno1234 welcome123 welcome1234 whatever12 zaq12wsxcde zxcvbnm123 zxcvbnmasd
    iloveyou1234 qwer123456 test123456 testtest12 scriptbots scriptbots1 scriptbots123
    changeme12 letmein1234 secret1234 secret12345 mypassword mypassword1 mypassword123
    """.split()  # noqa: SIM905 (a list that reads as one)
)
