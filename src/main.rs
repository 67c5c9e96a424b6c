fn main() -> std::process::ExitCode {
    exam_review_bot::cli::main()
}
