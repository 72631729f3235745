//! Commands the CLI asks a user to paste into a shell: every word quoted for a POSIX shell, and
//! what a server sent (a task id, a polling URL) made fit for a terminal first.

use bfl_core::{server_text, SubmittedTask};

/// `bfl resume ID --polling-url URL --out OUT`, ready to paste: a hostile id or URL can neither
/// act on the terminal (escaped by [`server_text`]) nor on the shell (quoted).
///
/// ```
/// let task = bfl::core::SubmittedTask::known_as("t1", "https://api.bfl.ai/v1/get_result?id=t1");
/// assert_eq!(
///     bfl::shell::resume_command(&task, "out dir/fox.jpeg"),
///     "bfl resume t1 --polling-url 'https://api.bfl.ai/v1/get_result?id=t1' --out 'out dir/fox.jpeg'"
/// );
/// ```
pub fn resume_command(task: &SubmittedTask, out: &str) -> String {
    let (id, url) = (server_text(&task.id), server_text(&task.polling_url));
    // A NUL is the one thing a shell cannot be given; `server_text` spells it out (the id and
    // URL have none left), and a path without one is kept as it is.
    let out = if out.contains('\0') {
        server_text(out)
    } else {
        out.to_owned()
    };
    let words = ["bfl", "resume", &id, "--polling-url", &url, "--out", &out];
    shlex::try_join(words).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits a command as a POSIX shell would.
    fn argv(command: &str) -> Vec<String> {
        shlex::split(command).expect("the command parses")
    }

    #[test]
    fn a_hostile_id_or_url_stays_one_word_and_shows_no_escape_sequence() {
        let task = SubmittedTask::known_as(
            "t'; rm -rf ~; echo '",
            "https://api.bfl.ai/v1/get_result?id=1&x=$(touch pwned)\x1b]0;title\x07",
        );
        let command = resume_command(&task, "imgs/fox.jpeg");
        assert!(
            !command.contains('\x1b') && !command.contains('\x07'),
            "{command}"
        );
        let words = argv(&command);
        assert_eq!(words.len(), 7, "{command}");
        assert_eq!(words[2], "t'; rm -rf ~; echo '");
        assert!(words[4].starts_with("https://api.bfl.ai/v1/get_result?id=1&x=$(touch pwned)"));
        assert!(words[4].contains("\\u{1b}"));
        assert_eq!(
            (words[5].as_str(), words[6].as_str()),
            ("--out", "imgs/fox.jpeg")
        );
    }

    #[test]
    fn an_ordinary_task_is_the_command_as_typed() {
        let task =
            SubmittedTask::known_as("abc-123", "https://api.us1.bfl.ai/v1/get_result?id=abc-123");
        let words = argv(&resume_command(&task, "FILE"));
        assert_eq!(
            words,
            [
                "bfl",
                "resume",
                "abc-123",
                "--polling-url",
                &task.polling_url,
                "--out",
                "FILE"
            ]
        );
        assert_eq!(argv(&resume_command(&task, "a\0b"))[6], "a\\u{0}b");
    }
}
